"""Factor synthesis: a registry of factor functions, a lazy pipeline on Dask into a Zarr store, and scoring."""
