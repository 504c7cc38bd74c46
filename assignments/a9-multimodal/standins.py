"""Trusted stand-ins for this assignment's parts, put in place of the student's own while a later part is
graded. No graded part of assignment 9 calls another (lm_input gets its projector and embedding as arguments,
greedy_caption a model, the task decoder its memories), so none is needed and this module defines none."""
