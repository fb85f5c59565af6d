"""Location formulations by family, over shared modules (no solver calls here).

    common       node–site pairs (CSR), exact reductions R1–R5, levels, truncated rows, and
                 the site variables with the spend and count rows
    heuristics   greedy first plans on those pairs (cover, p-median, p-center), nearest open site
    covering     maximal covering with coverage levels; set covering and its backup stage
    median       p-median, radius formulation
    center       p-center on the radius levels and a ladder of radii
    assignment   capacitated p-median and fixed-charge location (arcs with slack)

The solve procedures that use them are in the solving layer (allocator/solving/location/).
"""
