"""Where results go: nbgrader's gradebook, grades.csv and per-student HTML feedback. No torch here."""
