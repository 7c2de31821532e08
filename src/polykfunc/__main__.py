from polykfunc.cli import main

main()
