"""Money flows: what 1C knows about an order's payments and shipments, brought into its Bitrix24 deal."""
