from infgw_postrender.postrender import main

main()
