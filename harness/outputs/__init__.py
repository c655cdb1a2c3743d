"""What a run leaves behind: staged output folders, Parquet tables, the HTML report."""
