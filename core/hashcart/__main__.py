from hashcart.cli import main

main()
