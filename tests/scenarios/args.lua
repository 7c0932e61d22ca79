-- `ptelab run FILE ARGS`: the arguments in `arg` and as `...`.
print("arg[0]", arg[0])
print("arg[-1]", arg[-1])
print("#arg", #arg)
for i = 1, #arg do print(i, arg[i]) end
print("...", select("#", ...), ...)
