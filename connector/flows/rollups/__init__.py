"""Company rollups: a counterparty's orders, payments and debt from 1C onto its Bitrix24 company; dormant clients."""
