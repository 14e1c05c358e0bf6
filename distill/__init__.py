"""Offline half: teachers, pseudo-labels, students and training loops (torch; never on a device).

Empty until the speech distillation issue; features come from `edge.dsp`, so training and
serving share one front end.
"""
