"""One module per `autograder` verb; cli.py parses the command line and calls them."""
