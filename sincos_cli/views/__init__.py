"""What users look at on a terminal or in a window: tables, plots, the replay and the live view.

table (compare's tables, fitted to the terminal), progress (the bar and log lines), scene
(one frame's drawing, shared by the replay and the live view), internals_scene (a frame of
the curves with the network's gates and states under them), animate (GIF and MP4), live
(training drawn as it runs), plot (compare --plot), yardsticks (the linear filter and
predicting zero as labelled lines on a loss axis), profiles (performance profiles).

May import: the store, stats and training (the live view draws the training windows).
"""
