"""Recording a robot's topics into one MCAP file, without ROS.

Both robot backends record the same way: every message they read or send goes
into an MCAP file, one channel per topic, so that a session can be replayed
(``ros2 bag play``, Foxglove) or turned into a run folder later
(``pushseg import-bag``). Two flavours share one writer:

* :class:`Ros2Recorder` takes CDR bytes (what ``rclpy.serialization.serialize_message``
  gives) and a ROS 2 type name; the schema (``ros2msg``) comes from rosbags'
  typestore, so no ROS 2 installation is needed to write it. The file has
  MCAP's ``ros2`` profile: a ROS 2 bag in one file.
* :class:`Ros1Recorder` takes genpy messages (ROS 1): ``msg.serialize``,
  ``msg._type``, ``msg._full_text`` and ``msg._md5sum`` give the bytes and
  the ``ros1msg`` schema. The file has MCAP's ``ros1`` profile.

The writers are thread-safe (subscription callbacks come from several
threads). A recording refuses to replace an existing file unless told to. A
write that fails (a full disk) never raises into the callback that made it (an
exception there would stop the ROS executor, and with it the joint states the
motion is watched by): the failure is logged once as a :class:`RecordingError`
naming the file, later writes are dropped, :meth:`McapRecorder.check` raises it
(between pushes) and :meth:`McapRecorder.close` raises it, so the command that
recorded ends with the error instead of leaving a short file unnoticed.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from pushseg.errors import BackendError, describe_os_error
from pushseg.optional import require

__all__ = ["McapRecorder", "RecordingError", "Ros1Recorder", "Ros2Recorder", "ros2_type_name"]

log = logging.getLogger("pushseg.recording")


class RecordingError(BackendError):
    """The recording file could not be opened or written."""


def _describe(path: Path, e: OSError) -> str:
    """One line for an OSError on ``path`` (a write on an open file carries no file name itself)."""
    named = OSError(e.errno, e.strerror or str(e), str(path)) if e.errno else e
    return f"recording {path}: {describe_os_error(named)}"


def ros2_type_name(msgtype: str) -> str:
    """``pkg/msg/Name`` for ``pkg/Name`` or ``pkg/msg/Name``: ROS 2 names its messages with the ``msg`` part."""
    parts = msgtype.strip("/").split("/")
    if len(parts) == 2:
        return f"{parts[0]}/msg/{parts[1]}"
    return "/".join(parts)


class McapRecorder:
    """An MCAP file open for writing: one schema and one channel per topic, registered on first use.

    Use :meth:`open` (or a subclass's) and :meth:`close`, or ``with``. The base
    class knows nothing of ROS versions; the subclasses give the profile and
    turn their messages into a schema and bytes.
    """

    profile = ""

    def __init__(self, path: Path, stream: io.BufferedWriter, writer: Any) -> None:
        self.path = path
        self._stream = stream
        self._writer = writer
        self._lock = threading.Lock()
        self._channels: dict[str, tuple[int, str]] = {}  # topic -> (channel id, type name)
        self._sequence = 0
        self.messages = 0  # messages written so far
        self.error: RecordingError | None = None  # the first failure; later writes are dropped
        self.closed = False

    @classmethod
    def open(cls, path: str | os.PathLike, *, overwrite: bool = False, compression: str = "zstd"):
        """Create ``path`` (refused when it exists, unless ``overwrite``) and start the MCAP file.

        ``compression``: ``"zstd"`` (default), ``"lz4"`` or ``"none"``, per chunk.
        """
        mcap_writer = require("mcap.writer", "recording to MCAP")
        kinds = {"zstd": "ZSTD", "lz4": "LZ4", "none": "NONE"}
        if compression not in kinds:
            raise ValueError(f"compression must be one of {sorted(kinds)}, got {compression!r}")
        path = Path(path)
        if path.is_dir():
            raise RecordingError(f"recording {path}: is a folder; give the name of an .mcap file to create")
        try:
            stream = open(path, "wb" if overwrite else "xb")
        except FileExistsError:
            raise RecordingError(f"recording {path}: the file already exists; choose another name "
                                 "or allow replacing it") from None
        except OSError as e:
            raise RecordingError(_describe(path, e)) from None
        writer = mcap_writer.Writer(stream, compression=getattr(mcap_writer.CompressionType, kinds[compression]))
        rec = cls(path, stream, writer)
        try:
            writer.start(profile=cls.profile, library="pushseg")
        except OSError as e:
            rec._fail(e)
            rec._abandon()
            raise rec.error from None
        return rec

    # -- writing

    def _channel(self, topic: str, type_name: str, schema: tuple[str, bytes], message_encoding: str,
                 metadata: dict[str, str] | None = None) -> int:
        """The channel of ``topic`` (registered with its schema the first time); called with the lock held."""
        known = self._channels.get(topic)
        if known is not None:
            if known[1] != type_name:
                raise ValueError(f"recording {self.path}: topic {topic} was recorded as {known[1]}, "
                                 f"now written as {type_name}")
            return known[0]
        encoding, data = schema
        schema_id = self._writer.register_schema(name=type_name, encoding=encoding, data=data)
        channel_id = self._writer.register_channel(topic=topic, message_encoding=message_encoding,
                                                   schema_id=schema_id, metadata=metadata or {})
        self._channels[topic] = (channel_id, type_name)
        return channel_id

    def _write(self, topic: str, type_name: str, schema_of, message_encoding: str, data: bytes,
               stamp_ns: int | None, metadata: dict[str, str] | None = None) -> bool:
        """Write one message; False when it was dropped (closed, or after a failure)."""
        stamp = time.time_ns() if stamp_ns is None else int(stamp_ns)
        with self._lock:
            if self.closed or self.error is not None:
                return False
            try:
                schema = None if topic in self._channels else schema_of()
                channel = self._channel(topic, type_name, schema, message_encoding, metadata)
                self._writer.add_message(channel_id=channel, log_time=stamp, data=bytes(data),
                                         publish_time=stamp, sequence=self._sequence)
            except OSError as e:
                self._fail(e)
                log.error("%s; the messages from now on are not recorded", self.error)
                return False
            self._sequence += 1
            self.messages += 1
            return True

    def check(self) -> None:
        """Raise the recording's first failure, if any (writes themselves never raise it)."""
        if self.error is not None:
            raise self.error

    def _fail(self, e: OSError) -> None:
        self.error = RecordingError(_describe(self.path, e))

    def _abandon(self) -> None:
        self.closed = True
        try:
            self._stream.close()
        except OSError:
            pass

    def close(self) -> None:
        """Finish the file (its index and summary); raises the first failure of this recording, if any."""
        with self._lock:
            if self.closed:
                if self.error is not None:
                    raise self.error
                return
            self.closed = True
            if self.error is None:
                try:
                    self._writer.finish()
                    self._stream.flush()
                    os.fsync(self._stream.fileno())
                except OSError as e:
                    if e.errno != errno.EINVAL:  # fsync on a pipe or device: nothing to sync
                        self._fail(e)
            try:
                self._stream.close()
            except OSError as e:
                if self.error is None:
                    self._fail(e)
            if self.error is not None:
                raise self.error

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Ros2Recorder(McapRecorder):
    """ROS 2 messages as CDR bytes into an MCAP file with the ``ros2`` profile (a one-file ROS 2 bag).

    ``write(topic, msgtype, data, stamp_ns)``: ``msgtype`` such as
    ``sensor_msgs/msg/Image``; ``data`` what ``serialize_message`` gives;
    ``stamp_ns`` the receive time (now when None). The schema text comes
    from rosbags' typestore (ROS 2 Jazzy's messages), or from ``msgdef`` for
    a type it does not know.
    """

    profile = "ros2"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._typestore = None

    def _schema(self, msgtype: str, msgdef: str | None) -> tuple[str, bytes]:
        if msgdef is not None:
            return "ros2msg", msgdef.encode()
        if self._typestore is None:
            typesys = require("rosbags.typesys", "recording ROS 2 messages")
            self._typestore = typesys.get_typestore(typesys.Stores.ROS2_JAZZY)
        if msgtype not in self._typestore.fielddefs:
            raise ValueError(f"recording {self.path}: no message definition of {msgtype} is known; "
                             "pass its definition (msgdef)")
        text, _ = self._typestore.generate_msgdef(msgtype, ros_version=2)
        return "ros2msg", text.encode()

    def write(self, topic: str, msgtype: str, data: bytes, stamp_ns: int | None = None, *,
              msgdef: str | None = None) -> bool:
        """Write one CDR-encoded message; False when it was dropped (the recording is closed or failed)."""
        name = ros2_type_name(msgtype)
        return self._write(topic, name, lambda: self._schema(name, msgdef), "cdr", data, stamp_ns,
                           {"offered_qos_profiles": ""})


class Ros1Recorder(McapRecorder):
    """genpy (ROS 1) messages into an MCAP file with the ``ros1`` profile.

    ``write(topic, msg, stamp_ns)``: the message is serialized with its own
    ``serialize``; its ``_type``, ``_full_text`` and ``_md5sum`` give the
    ``ros1msg`` schema and the channel's md5sum, as ``rosbag`` records them.
    """

    profile = "ros1"

    def write(self, topic: str, msg: Any, stamp_ns: int | None = None) -> bool:
        """Write one message; False when it was dropped (the recording is closed or failed)."""
        buf = io.BytesIO()
        msg.serialize(buf)
        md5 = str(getattr(msg, "_md5sum", ""))
        return self._write(topic, str(msg._type), lambda: ("ros1msg", str(msg._full_text).encode()), "ros1",
                           buf.getvalue(), stamp_ns, {"md5sum": md5} if md5 else None)
