"""croissant.json: MLCommons Croissant 1.0 metadata describing the same files and fields.

The per-sample metadata (index.parquet) is a record set any Croissant reader can load. The Zarr
stores are declared as file sets, one per split, with their arrays described as fields (dtype,
dimensions and per-sample shape in the description: Croissant 1.0 has no array type for Zarr yet);
the file set says how to open a store with xarray or zarr.
Validation uses ``mlcroissant`` when it is installed; otherwise a structural check of the
required Croissant properties.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

CONFORMS_TO = "http://mlcommons.org/croissant/1.0"

CONTEXT = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}


def _data_type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "sc:Boolean"
    if pd.api.types.is_integer_dtype(series):
        return "sc:Integer"
    if pd.api.types.is_float_dtype(series):
        return "sc:Float"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "sc:DateTime"
    return "sc:Text"


def _product_keywords(index: pd.DataFrame) -> list[str]:
    """The label products and imager platforms the samples come from, so a catalog search finds the
    dataset by what is in it rather than by a fixed list."""
    words: list[str] = []
    for column in ("label_product", "platform"):
        if column in index.columns:
            words += sorted({str(v) for v in index[column].dropna().unique() if str(v)})
    return words


def croissant_document(
    *,
    name: str,
    version: str,
    description: str,
    index: pd.DataFrame,
    index_sha256: str,
    stats_sha256: str,
    splits: list[str],
    arrays: dict[str, dict],
) -> dict:
    """The Croissant JSON-LD of a built dataset.

    Args:
        name: dataset name.
        version: cloudbench version that built it.
        description: one paragraph.
        index: the index table (its columns become fields).
        index_sha256: sha256 of index.parquet.
        stats_sha256: sha256 of stats.json.
        splits: split names with a store.
        arrays: per array name: ``dtype``, ``sample_shape``, ``description`` (with the dimensions).
    """
    distribution = [
        {"@type": "cr:FileObject", "@id": "index.parquet", "name": "index.parquet",
         "description": "One row per sample: provenance, geometry, split and row in the split's store.",
         "contentUrl": "index.parquet", "encodingFormat": "application/x-parquet", "sha256": index_sha256},
        {"@type": "cr:FileObject", "@id": "stats.json", "name": "stats.json",
         "description": "Per-band mean and standard deviation of the train split (normalisation).",
         "contentUrl": "stats.json", "encodingFormat": "application/json", "sha256": stats_sha256},
    ]  # fmt: skip
    for split in splits:
        distribution.append({
            "@type": "cr:FileSet", "@id": f"{split}.zarr", "name": f"{split}.zarr",
            "description": f"Zarr v3 store of the {split} split: chunk = one sample, shard = many; every array "
                           "carries dimension names and CF-style attributes, with coordinate arrays (band, "
                           "aux_channel, height in km, sample_id). Open it with "
                           f"xarray.open_zarr('{split}.zarr') or zarr.open_group('{split}.zarr', mode='r'); "
                           "file checksums are listed in manifest.json.",
            "encodingFormat": "application/vnd+zarr", "includes": f"{split}.zarr/**",
        })  # fmt: skip
    index_fields = [
        {"@type": "cr:Field", "@id": f"samples/{col}", "name": col, "dataType": _data_type(index[col]),
         "source": {"fileObject": {"@id": "index.parquet"}, "extract": {"column": col}}}
        for col in index.columns
    ]  # fmt: skip
    record_sets = [{"@type": "cr:RecordSet", "@id": "samples", "name": "samples",
                    "description": "Per-sample metadata; `split` and `row` locate the sample's arrays.",
                    "key": {"@id": "samples/sample_id"}, "field": index_fields}]  # fmt: skip
    for split in splits:
        fields = []
        for array, spec in arrays.items():
            fields.append({
                "@type": "cr:Field", "@id": f"{split}_arrays/{array}", "name": array,
                "description": f"{spec['description']} dtype {spec['dtype']}, per-sample shape {spec['sample_shape']}; "
                               f"the Zarr array {split}.zarr/{array}.",
                "dataType": "sc:Integer" if spec["dtype"].startswith(("int", "uint")) else "sc:Float",
                "source": {"fileSet": {"@id": f"{split}.zarr"}, "extract": {"fileProperty": "content"}},
            })  # fmt: skip
        record_sets.append({"@type": "cr:RecordSet", "@id": f"{split}_arrays", "name": f"{split}_arrays",
                            "description": f"Arrays of the {split} split, first axis = `row` of the samples table.",
                            "field": fields})  # fmt: skip
    return {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": name,
        "description": description,
        "version": version,
        "license": "https://creativecommons.org/licenses/by/4.0/",
        "url": "https://github.com/cloudbench/cloudbench",
        "citeAs": "cloudbench: geostationary imagery paired with CALIPSO/CloudSat cloud phase profiles.",
        "keywords": ["cloud phase", "benchmark", *_product_keywords(index)],
        "distribution": distribution,
        "recordSet": record_sets,
    }


REQUIRED = {"@context", "@type", "conformsTo", "name", "description", "distribution", "recordSet"}


def validate_croissant(path: str | Path) -> list[str]:
    """Problems found in a croissant.json (empty when valid), with mlcroissant if installed."""
    import json

    problems: list[str] = []
    doc = json.loads(Path(path).read_text())
    missing = REQUIRED - doc.keys()
    if missing:
        problems.append(f"missing properties: {', '.join(sorted(missing))}")
    ids = {d.get("@id") for d in doc.get("distribution", [])}
    for rs in doc.get("recordSet", []):
        for f in rs.get("field", []):
            src = f.get("source", {})
            ref = (src.get("fileObject") or src.get("fileSet") or {}).get("@id")
            if ref not in ids:
                problems.append(f"field {f.get('@id')} refers to unknown distribution {ref!r}")
    for d in doc.get("distribution", []):
        if d.get("@type") == "cr:FileObject" and not d.get("sha256"):
            problems.append(f"file object {d.get('@id')} has no sha256")
    try:
        import mlcroissant as mlc
    except ImportError:
        return problems
    try:
        mlc.Dataset(jsonld=str(path))
    except Exception as exc:  # mlcroissant raises its own ValidationError with every issue listed
        problems.append(f"mlcroissant: {exc}")
    return problems
