"""Location formulations by family, over one shared module (no solver calls here).

    common       node–site pairs (CSR), exact reductions R1–R5, levels, greedy heuristics,
                 truncated rows, and the site variables with the spend and count rows
    covering     maximal covering with coverage levels; set covering and its backup stage
    median       p-median, radius formulation
    center       p-center on the radius levels and a ladder of radii
    assignment   capacitated p-median and fixed-charge location (arcs with slack)

The solve procedures that use them are in the solving layer (allocator/solving/location/).
"""
