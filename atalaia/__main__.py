from atalaia.cli import main

main()
