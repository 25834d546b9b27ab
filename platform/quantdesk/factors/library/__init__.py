"""The built-in factor families; importing this package registers them."""
