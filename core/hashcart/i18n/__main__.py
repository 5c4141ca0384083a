from hashcart.i18n import main

main()
