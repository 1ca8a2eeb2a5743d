"""The search engine without HTTP: candidates, fusion, relevance, grouping, facets, similar, shards."""
