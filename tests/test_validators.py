"""Credit code, phone, e-mail and URL validators: table-driven, exact values."""

from __future__ import annotations

import pytest

from parsers.validators import (
    credit_code_check_char,
    credit_code_problem,
    credit_code_valid,
    email_valid,
    find_email,
    find_url,
    normalize_credit_code,
    normalize_email,
    normalize_phone,
    phone_problem,
    phone_valid,
    url_valid,
)

# Codes of registered organisations, published in public records (check characters verified here).
REAL_CODES = [
    "91110000600037341L",
    "9144030071526726XG",
    "914403001922038216",
    "91440300708461136T",
    "91350100M000100Y43",
    "91310110666007217T",
    "91110108551385082Q",
]


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_are_valid(code: str) -> None:
    assert credit_code_valid(code)
    assert credit_code_problem(code) is None
    assert credit_code_check_char(code[:17]) == code[17]


@pytest.mark.parametrize(
    ("first17", "expected"),
    [
        ("91110000600037341", "L"),
        ("9144030071526726X", "G"),
        ("91350100M000100Y4", "3"),
        ("91350211M00013FA1", "3"),
    ],
)
def test_check_char(first17: str, expected: str) -> None:
    assert credit_code_check_char(first17) == expected


def test_check_char_zero_case_maps_to_zero() -> None:
    # (31 - sum % 31) % 31 is 0 when the weighted sum is a multiple of 31: 17 zeros give sum 0
    assert credit_code_check_char("0" * 17) == "0"


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        (" 9144 0300 7152 6726XG ", "9144030071526726XG"),
        ("９１４４０３００７１５２６７２６ｘｇ", "9144030071526726XG"),
        ("9144-0300-7152-6726-xg", "9144030071526726XG"),
    ],
)
def test_normalize_credit_code(raw: str, normal: str) -> None:
    assert normalize_credit_code(raw) == normal
    assert credit_code_valid(raw)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("", "统一社会信用代码未填写"),
        ("91440101MA5CXXXX", "统一社会信用代码“91440101MA5CXXXX”应为18位，实际为16位，请核对后重新填写"),
        ("9144030071526726XH", "统一社会信用代码“9144030071526726XH”校验位错误，应为“G”，请核对后重新填写"),
        ("91350211M00013FA1N", "统一社会信用代码“91350211M00013FA1N”校验位错误，应为“3”，请核对后重新填写"),
        ("91440300715267I6XG",
         "统一社会信用代码“91440300715267I6XG”第15位字符“I”不合规（是否应为“1”？），请核对后重新填写"),
        ("9144030071526726XS",
         "统一社会信用代码“9144030071526726XS”第18位字符“S”不合规（是否应为“5”？），请核对后重新填写"),
        ("Z144030071526726XG", "统一社会信用代码“Z144030071526726XG”第1位字符“Z”不合规（是否应为“2”？），请核对后重新填写"),
        ("K144030071526726XG", "统一社会信用代码“K144030071526726XG”首位登记管理部门代码“K”不存在，请核对后重新填写"),
    ],
)
def test_credit_code_problem(code: str, message: str) -> None:
    assert credit_code_problem(code) == message
    assert not credit_code_valid(code)


@pytest.mark.parametrize("prefix", ["N", "Y", "A"])
def test_n_y_a_prefixed_codes_with_right_check_char_are_valid(prefix: str) -> None:
    body = prefix + "2440101MA5CABCDE"
    code = body + credit_code_check_char(body)
    assert credit_code_valid(code)
    wrong = body + ("0" if code[-1] != "0" else "1")
    assert not credit_code_valid(wrong)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("86-13812345678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),
        ("020-12345678", "020-12345678"),
        ("(020)12345678", "020-12345678"),
        ("（０２０）１２３４５６７８", "020-12345678"),
        ("0755 1234 5678", "0755-12345678"),
        ("02012345678", "020-12345678"),
        ("0763-3388123", "0763-3388123"),
        ("+86-20-12345678", "020-12345678"),
        ("020-12345678转123", "020-12345678转123"),
        ("020-12345678-123", "020-12345678转123"),
        ("020-12345678 ext 123", "020-12345678转123"),
        ("020－12345678分机8", "020-12345678转8"),
        ("400-820-8820", "400-820-8820"),
        ("13812345678、020-87654321", "13812345678、020-87654321"),
        ("13812345678/13912345678", "13812345678、13912345678"),
        ("13812345678；020-87654321", "13812345678、020-87654321"),
        ("手机：13812345678", "13812345678"),
        ("020-12345678（工作日）", "020-12345678"),
        ("13812345678(张三)", "13812345678"),
    ],
)
def test_phone_valid_and_normalized(raw: str, normal: str) -> None:
    assert phone_valid(raw), phone_problem(raw)
    assert normalize_phone(raw) == normal


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "联系电话未填写"),
        ("87654321", "联系电话“87654321”缺少区号，请按“020-12345678”或11位手机号格式填写"),
        ("1381234567", "联系电话“1381234567”格式不正确，请填写11位手机号或带区号的固定电话（如020-12345678）"),
        ("12812345678", "联系电话“12812345678”格式不正确，请填写11位手机号或带区号的固定电话（如020-12345678）"),
        ("020-123456789", "联系电话“020-123456789”格式不正确，请填写11位手机号或带区号的固定电话（如020-12345678）"),
        ("13812345678、暂无", "联系电话“暂无”格式不正确，请填写11位手机号或带区号的固定电话（如020-12345678）"),
        ("张三", "联系电话“张三”格式不正确，请填写11位手机号或带区号的固定电话（如020-12345678）"),
    ],
)
def test_phone_problem(raw: str, message: str) -> None:
    assert not phone_valid(raw)
    assert phone_problem(raw) == message


def test_normalize_phone_keeps_unreadable_text() -> None:
    assert normalize_phone(" 暂无 ") == "暂无"


@pytest.mark.parametrize(
    ("raw", "valid"),
    [
        ("zhangsan@example.com", True),
        ("zhang.san+train@mail.example.com.cn", True),
        ("zs＠ｅｘａｍｐｌｅ．ｃｏｍ", True),
        ("zs@example。com", True),
        (" zs@example.com ", True),
        ("mailto:zs@example.com", True),
        ("abc@中国移动.中国", True),
        ("zs@example", False),
        ("zs.example.com", False),
        ("zs@@example.com", False),
        ("", False),
        ("张三@example.com", False),
    ],
)
def test_email_valid(raw: str, valid: bool) -> None:
    assert email_valid(raw) is valid


def test_normalize_email() -> None:
    assert normalize_email(" ZS＠Example．com ") == "ZS@Example.com"


@pytest.mark.parametrize(
    ("raw", "valid"),
    [
        ("https://www.example.com", True),
        ("http://www.example.com/path?a=1", True),
        ("www.example.com", True),
        ("example.com.cn/train", True),
        ("ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ", True),
        ("http://培训.中国", True),
        ("https://example.com:8443/", True),
        ("http://10.1.2.3:8080/index", True),
        ("Https://WWW.Example.COM", True),
        ("example", False),
        ("粤学通平台", False),
        ("ftp://example.com", False),
        ("http://example.com:port", False),
        ("http://exa mple", False),
        ("", False),
    ],
)
def test_url_valid(raw: str, valid: bool) -> None:
    assert url_valid(raw) is valid


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("www.example.com（PC端）；APP：粤学通", "www.example.com"),
        ("PC端：https://a.example.cn/x 小程序：粤学通", "https://a.example.cn/x"),
        ("ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ", "www.example.com"),
        ("粤学通APP", None),
        ("请见附件", None),
    ],
)
def test_find_url(raw: str, url: str | None) -> None:
    assert find_url(raw) == url


@pytest.mark.parametrize(
    ("raw", "email"),
    [
        ("zs@example.com（备用：ls@example.org）", "zs@example.com"),
        ("邮箱：zs＠example.com", "zs@example.com"),
        ("zs@example", None),
        ("无", None),
    ],
)
def test_find_email(raw: str, email: str | None) -> None:
    assert find_email(raw) == email
