"""SQL views and named queries, plots, the HTML report, export of the best architecture.
Reads the store only."""
