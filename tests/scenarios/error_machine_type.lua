ptelab.machine{smap = "yes"}
