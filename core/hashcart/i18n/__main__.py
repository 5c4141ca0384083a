from hashcart.i18n.catalogs import main

main()
