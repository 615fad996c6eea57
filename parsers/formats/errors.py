"""Why an attachment could not be read: one exception per cause.

Each carries ``problem``, the sentence shown to the sender (Chinese first,
naming the file), besides the technical message.
"""

from __future__ import annotations

from parsers.errors import ParserError


class FormatError(ParserError):
    """Base of the format readers' errors; ``problem`` is the sender-facing sentence."""

    def __init__(self, message: str, filename: str | None = None, problem: str | None = None):
        super().__init__(message, filename)
        self.problem = problem or f"附件“{filename or ''}”无法读取：{message}"


class EmptyFileError(FormatError):
    def __init__(self, filename: str):
        super().__init__("empty file", filename, f"附件“{filename}”是空文件（0 字节），请重新添加附件后发送")


class CorruptFileError(FormatError):
    def __init__(self, filename: str, fmt: str, detail: str = ""):
        self.fmt = fmt
        super().__init__(
            f"corrupt or truncated {fmt} file{': ' + detail if detail else ''}",
            filename,
            f"附件“{filename}”已损坏或不完整，无法作为 {fmt} 文件打开，请重新保存后发送",
        )


class UnsupportedFormatError(FormatError):
    def __init__(self, filename: str, fmt: str):
        self.fmt = fmt
        super().__init__(
            f"unsupported format {fmt}",
            filename,
            f"附件“{filename}”：不支持的文件格式（.{fmt}），请另存为 xlsx/docx/pdf 后重新发送"
            f" / unsupported format, please resend as xlsx/docx/pdf",
        )


class EncryptedFileError(FormatError):
    def __init__(self, filename: str, fmt: str):
        self.fmt = fmt
        super().__init__(
            f"{fmt} is password-protected",
            filename,
            f"附件“{filename}”设置了密码（已加密），无法读取，请去掉密码后重新发送",
        )


class UnsafeContentError(FormatError):
    """XML with entity declarations or external references (billion laughs, XXE)."""

    def __init__(self, filename: str, detail: str = ""):
        super().__init__(
            f"unsafe XML content{': ' + detail if detail else ''}",
            filename,
            f"附件“{filename}”含有不安全的内容（XML 实体定义），已拒绝读取，请用 Excel/WPS 重新保存后发送",
        )


class LimitExceededError(FormatError):
    """A size, count, ratio or depth limit was hit; ``kind`` names which one."""

    KINDS = {
        "attachment_size": "文件过大",
        "unzipped_size": "解压后总大小超出限制",
        "compression_ratio": "压缩比异常（疑似压缩炸弹）",
        "zip_members": "压缩包内文件数量过多",
        "zip_depth": "压缩包嵌套层数过多",
        "rows": "表格行数过多",
        "pdf_pages": "PDF 页数过多",
        "pdf_stream": "PDF 内容解压后过大（疑似压缩炸弹）",
        "image_pixels": "图片像素过多（疑似图片炸弹）",
    }

    def __init__(self, filename: str, kind: str, detail: str):
        self.kind = kind
        self.detail = detail
        label = self.KINDS.get(kind, kind)
        super().__init__(
            f"limit exceeded ({kind}): {detail}",
            filename,
            f"附件“{filename}”{label}（{detail}），未予读取，请精简或拆分后重新发送",
        )


class ConversionError(FormatError):
    def __init__(self, filename: str, fmt: str, detail: str):
        self.fmt = fmt
        super().__init__(
            f"conversion of {fmt} failed: {detail}",
            filename,
            f"附件“{filename}”（.{fmt}）转换失败，请另存为 xlsx/docx/pdf 后重新发送",
        )
