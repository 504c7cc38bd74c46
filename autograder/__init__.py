"""The course kit's autograder: validates the course, builds releases, grades submissions."""
