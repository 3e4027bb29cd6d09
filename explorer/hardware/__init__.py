"""What hardware can do: the catalog (datasheets, prices), measured ceilings and overheads, the work a query
asks, the roofline and projections onto hardware where nothing was measured."""
