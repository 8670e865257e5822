from infgw_postrender.cli.postrender import main

main()
