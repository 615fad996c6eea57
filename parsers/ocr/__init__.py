"""Reading scanned and photographed forms (OCR), their red seal and business licences.

Everything here runs in the OCR sandbox child (``parsers.sandbox``), never in
the daemon's own process: ``scan.ocr_attachment`` is the task that child runs.

- ``image``: bytes -> page images (capped in pixels before decoding, about
  200 dpi), photos straightened (paper outline, perspective warp) and deskewed;
- ``engine``: RapidOCR (PP-OCR models shipped in its wheel) on the red channel,
  so a red seal fades out of the text it covers;
- ``layout``: OCR boxes -> the ruled grid of the form -> a ``Document`` the form
  parsers read, and a confidence for every value they take from it;
- ``seal``: is there a company seal (red ring, empty interior, centre star)?
- ``licence``: 营业执照 / 事业单位法人证书 / 民办非企业单位登记证书: kind, name, credit code.
"""
