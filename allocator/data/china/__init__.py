"""Chinese cities from real data: the 2020 census table of every county, land boundaries by adcode, and the builder."""
