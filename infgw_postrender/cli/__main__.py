from infgw_postrender.cli.main import main

main()
