"""Reading articles: files, web pages, feeds, the feed watcher; cleaning and validating what they hold."""
