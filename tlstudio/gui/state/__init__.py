"""Qt models of the plain objects the pages edit and show: the project, the scanned dataset, the runs."""
