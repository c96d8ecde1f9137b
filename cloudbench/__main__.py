from cloudbench.cli import main

main()
