/*
 * Native Avro writer for flat record schemas (the inference event and its kin).
 *
 * encode(header, plan, record) -> bytes: `header` (the Confluent frame) followed by the Avro
 * binary encoding of `record` following `plan`, a tuple built once per schema by
 * streams.codec.build_write_plan():
 *
 *     plan  = ((name, null_index, kind, extra), ...)   one entry per field, in schema order
 *     null_index: -1 (not a union) or the branch index of "null" in a ["null", T] union
 *     kind: one of the K_* codes below; extra: {symbol: index} for enums,
 *           (inner_kind, inner_extra) for maps and arrays of simple types
 *
 * It accepts exactly what the generated Python writer in streams/codec.py accepts and raises
 * the same kinds of errors (TypeError, ValueError, KeyError, OverflowError), so that the
 * caller can name the offending field. Tests compare both writers byte for byte.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

enum {
    K_NULL = 0, K_BOOL = 1, K_INT = 2, K_LONG = 3, K_FLOAT = 4, K_DOUBLE = 5,
    K_STRING = 6, K_BYTES = 7, K_ENUM = 8, K_MAP = 9, K_ARRAY = 10
};

typedef struct {
    char *buf;
    Py_ssize_t len;
    Py_ssize_t cap;
} Buf;

static int reserve(Buf *b, Py_ssize_t extra) {
    if (b->len + extra <= b->cap) {
        return 0;
    }
    Py_ssize_t cap = b->cap * 2;
    if (cap < b->len + extra) {
        cap = b->len + extra + 1024;
    }
    char *grown = PyMem_Realloc(b->buf, (size_t)cap);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->buf = grown;
    b->cap = cap;
    return 0;
}

static int put_raw(Buf *b, const char *data, Py_ssize_t n) {
    if (reserve(b, n) < 0) {
        return -1;
    }
    memcpy(b->buf + b->len, data, (size_t)n);
    b->len += n;
    return 0;
}

static int put_long(Buf *b, long long v) {
    unsigned long long z = ((unsigned long long)v << 1) ^ (unsigned long long)(v >> 63);
    if (reserve(b, 10) < 0) {
        return -1;
    }
    while (z >= 0x80) {
        b->buf[b->len++] = (char)((z & 0x7F) | 0x80);
        z >>= 7;
    }
    b->buf[b->len++] = (char)z;
    return 0;
}

static int put_string(Buf *b, PyObject *v) {
    if (!PyUnicode_Check(v)) {
        PyErr_Format(PyExc_TypeError, "string expected, got %.80s", Py_TYPE(v)->tp_name);
        return -1;
    }
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(v, &n); /* UnicodeEncodeError on lone surrogates */
    if (s == NULL) {
        return -1;
    }
    if (put_long(b, (long long)n) < 0) {
        return -1;
    }
    return put_raw(b, s, n);
}

static int put_value(Buf *b, PyObject *v, long kind, PyObject *extra);

static int put_container(Buf *b, PyObject *v, long kind, PyObject *extra) {
    int truthy = PyObject_IsTrue(v);
    if (truthy < 0) {
        return -1;
    }
    if (truthy) {
        if (!PyTuple_Check(extra) || PyTuple_GET_SIZE(extra) != 2) {
            PyErr_SetString(PyExc_ValueError, "bad plan: container entry");
            return -1;
        }
        long inner_kind = PyLong_AsLong(PyTuple_GET_ITEM(extra, 0));
        if (inner_kind == -1 && PyErr_Occurred()) {
            return -1;
        }
        PyObject *inner_extra = PyTuple_GET_ITEM(extra, 1);
        Py_ssize_t n = PyObject_Length(v);
        if (n < 0 || put_long(b, (long long)n) < 0) {
            return -1;
        }
        if (kind == K_MAP) {
            if (PyDict_Check(v)) {
                Py_ssize_t pos = 0;
                PyObject *key, *value;
                while (PyDict_Next(v, &pos, &key, &value)) {
                    if (put_string(b, key) < 0 || put_value(b, value, inner_kind, inner_extra) < 0) {
                        return -1;
                    }
                }
            } else {
                PyObject *items = PyMapping_Items(v);
                if (items == NULL) {
                    return -1;
                }
                Py_ssize_t count = PyList_GET_SIZE(items);
                for (Py_ssize_t i = 0; i < count; i++) {
                    PyObject *pair = PyList_GET_ITEM(items, i);
                    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 ||
                        put_string(b, PyTuple_GET_ITEM(pair, 0)) < 0 ||
                        put_value(b, PyTuple_GET_ITEM(pair, 1), inner_kind, inner_extra) < 0) {
                        if (!PyErr_Occurred()) {
                            PyErr_SetString(PyExc_TypeError, "map items must be pairs");
                        }
                        Py_DECREF(items);
                        return -1;
                    }
                }
                Py_DECREF(items);
            }
        } else {
            PyObject *it = PyObject_GetIter(v);
            if (it == NULL) {
                return -1;
            }
            PyObject *item;
            while ((item = PyIter_Next(it)) != NULL) {
                int rc = put_value(b, item, inner_kind, inner_extra);
                Py_DECREF(item);
                if (rc < 0) {
                    Py_DECREF(it);
                    return -1;
                }
            }
            Py_DECREF(it);
            if (PyErr_Occurred()) {
                return -1;
            }
        }
    }
    return put_raw(b, "\0", 1);
}

static int put_value(Buf *b, PyObject *v, long kind, PyObject *extra) {
    switch (kind) {
    case K_NULL:
        if (v != Py_None) {
            PyErr_SetString(PyExc_TypeError, "null");
            return -1;
        }
        return 0;
    case K_BOOL:
        if (v == Py_True) {
            return put_raw(b, "\1", 1);
        }
        if (v == Py_False) {
            return put_raw(b, "\0", 1);
        }
        PyErr_SetString(PyExc_TypeError, "boolean");
        return -1;
    case K_INT:
    case K_LONG: {
        /* ints and objects with __index__ (numpy integers); TypeError for floats */
        long long x = PyLong_AsLongLong(v); /* OverflowError beyond 64 bits */
        if (x == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (kind == K_INT && (x < -2147483648LL || x > 2147483647LL)) {
            PyErr_SetString(PyExc_OverflowError, "int");
            return -1;
        }
        return put_long(b, x);
    }
    case K_FLOAT:
    case K_DOUBLE: {
        /* floats, ints, and objects with __float__/__index__, as struct.pack does */
        double d = PyFloat_AsDouble(v); /* OverflowError for a huge int */
        if (d == -1.0 && PyErr_Occurred()) {
            return -1;
        }
        if (reserve(b, 8) < 0) {
            return -1;
        }
        if (kind == K_FLOAT) {
            if (PyFloat_Pack4(d, b->buf + b->len, 1) < 0) { /* OverflowError like struct */
                return -1;
            }
            b->len += 4;
        } else {
            if (PyFloat_Pack8(d, b->buf + b->len, 1) < 0) {
                return -1;
            }
            b->len += 8;
        }
        return 0;
    }
    case K_STRING:
        return put_string(b, v);
    case K_BYTES: {
        Py_buffer view;
        if (PyObject_GetBuffer(v, &view, PyBUF_SIMPLE) < 0) {
            return -1;
        }
        int rc = put_long(b, (long long)view.len);
        if (rc == 0) {
            rc = put_raw(b, (const char *)view.buf, view.len);
        }
        PyBuffer_Release(&view);
        return rc;
    }
    case K_ENUM: {
        PyObject *index = PyDict_GetItemWithError(extra, v); /* borrowed */
        if (index == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetObject(PyExc_KeyError, v);
            }
            return -1;
        }
        long long i = PyLong_AsLongLong(index);
        if (i == -1 && PyErr_Occurred()) {
            return -1;
        }
        return put_long(b, i);
    }
    case K_MAP:
    case K_ARRAY:
        return put_container(b, v, kind, extra);
    default:
        PyErr_Format(PyExc_ValueError, "bad plan: kind %ld", kind);
        return -1;
    }
}

static PyObject *encode(PyObject *self, PyObject *args) {
    (void)self;
    const char *header;
    Py_ssize_t header_len;
    PyObject *plan, *record;
    if (!PyArg_ParseTuple(args, "y#O!O:encode", &header, &header_len, &PyTuple_Type, &plan,
                          &record)) {
        return NULL;
    }
    Buf b = {NULL, 0, 0};
    if (reserve(&b, 2048) < 0 || put_raw(&b, header, header_len) < 0) {
        PyMem_Free(b.buf);
        return NULL;
    }
    int exact_dict = PyDict_CheckExact(record);
    Py_ssize_t fields = PyTuple_GET_SIZE(plan);
    for (Py_ssize_t i = 0; i < fields; i++) {
        PyObject *entry = PyTuple_GET_ITEM(plan, i);
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 4) {
            PyErr_SetString(PyExc_ValueError, "bad plan: entries are (name, null_index, kind, extra)");
            goto fail;
        }
        PyObject *name = PyTuple_GET_ITEM(entry, 0);
        long null_index = PyLong_AsLong(PyTuple_GET_ITEM(entry, 1));
        long kind = PyLong_AsLong(PyTuple_GET_ITEM(entry, 2));
        if (PyErr_Occurred()) {
            goto fail;
        }
        PyObject *extra = PyTuple_GET_ITEM(entry, 3);
        PyObject *value;
        if (exact_dict) {
            value = PyDict_GetItemWithError(record, name);
            if (value == NULL) {
                if (!PyErr_Occurred()) {
                    PyErr_SetObject(PyExc_KeyError, name);
                }
                goto fail;
            }
            Py_INCREF(value);
        } else {
            value = PyObject_GetItem(record, name);
            if (value == NULL) {
                goto fail;
            }
        }
        int rc;
        if (null_index >= 0) {
            if (value == Py_None) {
                rc = put_long(&b, null_index);
            } else {
                rc = put_long(&b, 1 - null_index);
                if (rc == 0) {
                    rc = put_value(&b, value, kind, extra);
                }
            }
        } else {
            rc = put_value(&b, value, kind, extra);
        }
        Py_DECREF(value);
        if (rc < 0) {
            goto fail;
        }
    }
    PyObject *out = PyBytes_FromStringAndSize(b.buf, b.len);
    PyMem_Free(b.buf);
    return out;
fail:
    PyMem_Free(b.buf);
    return NULL;
}

static PyMethodDef methods[] = {
    {"encode", encode, METH_VARARGS,
     "encode(header, plan, record) -> bytes: header + the Avro body of record (see the plan "
     "built by streams.codec.build_write_plan)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "streams._avro_writer",
    "Native Avro writer for flat record schemas (optional; streams.codec falls back to Python).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__avro_writer(void) { return PyModule_Create(&module); }
