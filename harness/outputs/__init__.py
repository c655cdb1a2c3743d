"""What a run leaves for people and tools: Parquet tables, the HTML report and its figures."""
