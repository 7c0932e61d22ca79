-- os.exit(N) ends the run with status N; what was printed stays printed.
print("exiting with 5")
os.exit(5)
