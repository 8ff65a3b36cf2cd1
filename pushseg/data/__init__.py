"""On-disk data: run folders (transitions), images, labelled scenes and COCO instance annotations.

Reading a run::

    from pushseg.data import RunReader
    reader = RunReader("runs/r1")          # validates meta.json and every line
    for rec in reader.records:             # cheap: no pixels yet
        before = reader.load_frame(rec, "before")
    for t in reader:                       # pushseg.types.Transition, frames loaded one at a time
        ...
"""

from pushseg.data.lock import FolderBusyError, FolderLock, lock_folder
from pushseg.data.run import (
    FrameRecord,
    ResumeReport,
    RunMeta,
    RunReader,
    RunWriter,
    TransitionRecord,
    read_meta,
)

__all__ = ["FolderBusyError", "FolderLock", "lock_folder", "FrameRecord", "ResumeReport", "RunMeta", "RunReader", "RunWriter", "TransitionRecord", "read_meta"]
