"""Trusted stand-ins for this assignment's parts, put in place of the student's own while a later part is
graded. No graded part of assignment 4 calls another (the masked-LM head gets its table, the loss its logits,
best_span its logits as arguments), so none is needed and this module defines none."""
