ptelab.machine{tlb = {l2 = {["4k"] = {entries = 24, ways = 4}}}}
