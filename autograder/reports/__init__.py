"""The instructor's report after a batch: the class summary (class_summary), its figures (figures), the page
and its CSV/JSON (page, exports). Read from what grading stored; nothing is regraded."""
