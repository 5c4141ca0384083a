import argparse

from hashcart.i18n import available_locales, compile_po, compiled

parser = argparse.ArgumentParser(description="Compile the reply catalogs (.po to .mo).")
parser.add_argument("locales", nargs="*", help="default: every catalog")
for locale in parser.parse_args().locales or available_locales():
    compiled(locale).write_bytes(compile_po(locale))
    print(f"compiled {compiled(locale).name}")
