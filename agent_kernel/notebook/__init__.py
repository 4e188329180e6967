"""The notebook the kernel lives in: its cells and outputs, the last error, and cell edits.

The live notebook comes from the JupyterLab extension over a comm (`bridge.py`); where no
front end answers, from the saved `.ipynb` or IPython's own history (`sources.py`).
"""
