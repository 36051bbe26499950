"""Fan orders: deals from different dealers for the same end customer or project, flagged and linked."""
