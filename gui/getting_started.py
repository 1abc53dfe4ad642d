"""The short guide behind Help ▸ Getting started."""

GETTING_STARTED = """\
CNN Studio has four pages (Ctrl+1 … Ctrl+4):

1. Data & model — pick a dataset (Download, or Import a file or folder of class \
sub-folders), choose a network preset or edit its layers, set the training settings. \
A network you edit is kept under (custom), also after a restart; File ▸ Save \
architecture as… writes it to a JSON file (python main.py train --arch FILE reads it).
2. Train — start, pause and stop a run and watch its loss and accuracy. A stopped run keeps \
a checkpoint and can be resumed, also after a restart.
3. Predict — draw a digit or load / drop an image and see what the model answers.
4. Evaluate — confusion matrix (click a cell to see its images), per-class accuracy, \
confident mistakes, filters, feature maps, layer times.

Shortcuts: Ctrl+O open a model, Ctrl+S save it, Ctrl+Q quit; on Predict, Delete clears \
the canvas and Ctrl+Z undoes a stroke. A * in the title means the model is not saved yet.

Where files go: models wherever you save them (.pkl); datasets in the Data folder you \
choose, else $CNN_STUDIO_DATA, else ~/.local/share/cnn-studio/datasets; checkpoints of \
unfinished runs in ~/.local/share/cnn-studio/checkpoints."""
