ptelab.machine{ram = "5M"}
