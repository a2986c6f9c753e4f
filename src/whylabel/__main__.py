from whylabel.cli import main

main(prog_name="whylabel")
