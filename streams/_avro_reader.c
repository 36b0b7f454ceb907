/*
 * Native Avro reader for flat record schemas (the inference event and its kin): the worker's
 * decode step, the mirror of _avro_writer.c.
 *
 * read(plan, error, data, pos, end) -> (record, pos): the record (a dict) whose Avro binary
 * encoding starts at data[pos] and the position after it. `plan` is built once per schema by
 * streams.avro_codegen.build_read_plan():
 *
 *     plan  = ((name, null_index, kind, extra), ...)   one entry per field, in schema order
 *     null_index: -1 (not a union) or the branch index of "null" in a ["null", T] union
 *     kind: one of the K_* codes below; extra: (symbol, ...) for enums,
 *           (inner_kind, inner_extra) for maps and arrays of simple types
 *
 * It reads exactly what the generated Python reader in streams/avro_codegen.py reads and
 * fails the same ways: EOFError when the data ends early, UnicodeDecodeError for a string
 * that is not UTF-8, and `error` (a ValueError subclass) with the same messages for bytes
 * that cannot be data of the schema. Tests compare both readers on generated, edge-case and
 * fuzzed data.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

enum {
    K_NULL = 0, K_BOOL = 1, K_INT = 2, K_LONG = 3, K_FLOAT = 4, K_DOUBLE = 5,
    K_STRING = 6, K_BYTES = 7, K_ENUM = 8, K_MAP = 9, K_ARRAY = 10
};

typedef struct {
    const unsigned char *buf;
    Py_ssize_t pos;
    Py_ssize_t end;
    PyObject *error; /* the class raised for data that is not of the schema */
} Reader;

static int fail_eof(void) {
    PyErr_SetString(PyExc_EOFError, "Avro data ends early");
    return -1;
}

static int fail_data(Reader *r, const char *what) {
    PyErr_SetString(r->error, what);
    return -1;
}

static int get_long(Reader *r, long long *out) {
    unsigned long long z = 0;
    int shift = 0;
    for (;;) {
        if (r->pos >= r->end) {
            return fail_eof();
        }
        unsigned char c = r->buf[r->pos++];
        if (shift == 63 && (c & 0x7E) != 0) {
            return fail_data(r, "varint overflows 64 bits");
        }
        z |= (unsigned long long)(c & 0x7F) << shift;
        if (c < 0x80) {
            *out = (long long)(z >> 1) ^ -(long long)(z & 1);
            return 0;
        }
        shift += 7;
        if (shift > 63) {
            return fail_data(r, "varint longer than 10 bytes");
        }
    }
}

static int get_span(Reader *r, Py_ssize_t *start, Py_ssize_t *n) {
    long long len;
    if (get_long(r, &len) < 0) {
        return -1;
    }
    if (len < 0) {
        return fail_data(r, "negative length");
    }
    if (len > r->end - r->pos) {
        return fail_eof();
    }
    *start = r->pos;
    *n = (Py_ssize_t)len;
    r->pos += (Py_ssize_t)len;
    return 0;
}

static PyObject *get_string(Reader *r) {
    Py_ssize_t start, n;
    if (get_span(r, &start, &n) < 0) {
        return NULL;
    }
    return PyUnicode_DecodeUTF8((const char *)r->buf + start, n, NULL);
}

static PyObject *get_value(Reader *r, long kind, PyObject *extra);

static PyObject *get_container(Reader *r, long kind, PyObject *extra) {
    if (!PyTuple_Check(extra) || PyTuple_GET_SIZE(extra) != 2) {
        PyErr_SetString(PyExc_ValueError, "bad plan: container entry");
        return NULL;
    }
    long inner_kind = PyLong_AsLong(PyTuple_GET_ITEM(extra, 0));
    if (inner_kind == -1 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *inner_extra = PyTuple_GET_ITEM(extra, 1);
    PyObject *acc = kind == K_MAP ? PyDict_New() : PyList_New(0);
    if (acc == NULL) {
        return NULL;
    }
    long long count;
    if (get_long(r, &count) < 0) {
        goto fail;
    }
    while (count != 0) {
        if (count < 0) {
            long long block_size; /* a negative count is followed by the block's size */
            count = -count;
            if (get_long(r, &block_size) < 0) {
                goto fail;
            }
        }
        for (long long i = 0; i < count; i++) {
            if (kind == K_MAP) {
                PyObject *key = get_string(r);
                if (key == NULL) {
                    goto fail;
                }
                PyObject *value = get_value(r, inner_kind, inner_extra);
                if (value == NULL) {
                    Py_DECREF(key);
                    goto fail;
                }
                int rc = PyDict_SetItem(acc, key, value);
                Py_DECREF(key);
                Py_DECREF(value);
                if (rc < 0) {
                    goto fail;
                }
            } else {
                PyObject *value = get_value(r, inner_kind, inner_extra);
                if (value == NULL) {
                    goto fail;
                }
                int rc = PyList_Append(acc, value);
                Py_DECREF(value);
                if (rc < 0) {
                    goto fail;
                }
            }
        }
        if (get_long(r, &count) < 0) {
            goto fail;
        }
    }
    return acc;
fail:
    Py_DECREF(acc);
    return NULL;
}

static PyObject *get_value(Reader *r, long kind, PyObject *extra) {
    switch (kind) {
    case K_NULL:
        Py_RETURN_NONE;
    case K_BOOL: {
        if (r->pos >= r->end) {
            fail_eof();
            return NULL;
        }
        unsigned char c = r->buf[r->pos++];
        if (c > 1) {
            fail_data(r, "boolean byte");
            return NULL;
        }
        return PyBool_FromLong(c);
    }
    case K_INT:
    case K_LONG: {
        long long v;
        if (get_long(r, &v) < 0) {
            return NULL;
        }
        if (kind == K_INT && (v < -2147483648LL || v > 2147483647LL)) {
            fail_data(r, "int out of range"); /* an int column would refuse it at insert */
            return NULL;
        }
        return PyLong_FromLongLong(v);
    }
    case K_FLOAT:
    case K_DOUBLE: {
        Py_ssize_t size = kind == K_FLOAT ? 4 : 8;
        if (size > r->end - r->pos) {
            fail_eof();
            return NULL;
        }
        const char *p = (const char *)r->buf + r->pos;
        double d = kind == K_FLOAT ? PyFloat_Unpack4(p, 1) : PyFloat_Unpack8(p, 1);
        if (d == -1.0 && PyErr_Occurred()) {
            return NULL;
        }
        r->pos += size;
        return PyFloat_FromDouble(d);
    }
    case K_STRING:
        return get_string(r);
    case K_BYTES: {
        Py_ssize_t start, n;
        if (get_span(r, &start, &n) < 0) {
            return NULL;
        }
        return PyBytes_FromStringAndSize((const char *)r->buf + start, n);
    }
    case K_ENUM: {
        long long index;
        if (get_long(r, &index) < 0) {
            return NULL;
        }
        if (!PyTuple_Check(extra)) {
            PyErr_SetString(PyExc_ValueError, "bad plan: enum symbols");
            return NULL;
        }
        if (index < 0 || index >= (long long)PyTuple_GET_SIZE(extra)) {
            fail_data(r, "enum index");
            return NULL;
        }
        PyObject *symbol = PyTuple_GET_ITEM(extra, (Py_ssize_t)index);
        Py_INCREF(symbol);
        return symbol;
    }
    case K_MAP:
    case K_ARRAY:
        return get_container(r, kind, extra);
    default:
        PyErr_Format(PyExc_ValueError, "bad plan: kind %ld", kind);
        return NULL;
    }
}

static PyObject *read_record(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "read(plan, error, data, pos, end) takes 5 arguments");
        return NULL;
    }
    PyObject *plan = args[0];
    if (!PyTuple_Check(plan)) {
        PyErr_SetString(PyExc_TypeError, "read: plan must be a tuple");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[2], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[3]);
    Py_ssize_t end = PyLong_AsSsize_t(args[4]);
    if (PyErr_Occurred()) {
        PyBuffer_Release(&view);
        return NULL;
    }
    if (end > view.len) {
        end = view.len;
    }
    if (pos < 0 || pos > end) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_EOFError, "Avro data ends early");
        return NULL;
    }
    Reader r = {(const unsigned char *)view.buf, pos, end, args[1]};
    Py_ssize_t fields = PyTuple_GET_SIZE(plan);
    PyObject *record = _PyDict_NewPresized(fields);
    if (record == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < fields; i++) {
        PyObject *entry = PyTuple_GET_ITEM(plan, i);
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 4) {
            PyErr_SetString(PyExc_ValueError, "bad plan: entries are (name, null_index, kind, extra)");
            goto fail;
        }
        long null_index = PyLong_AsLong(PyTuple_GET_ITEM(entry, 1));
        long kind = PyLong_AsLong(PyTuple_GET_ITEM(entry, 2));
        if (PyErr_Occurred()) {
            goto fail;
        }
        PyObject *value;
        if (null_index >= 0) {
            long long branch;
            if (get_long(&r, &branch) < 0) {
                goto fail;
            }
            if (branch == null_index) {
                value = Py_None;
                Py_INCREF(value);
            } else if (branch == 1 - null_index) {
                value = get_value(&r, kind, PyTuple_GET_ITEM(entry, 3));
            } else {
                fail_data(&r, "union index");
                goto fail;
            }
        } else {
            value = get_value(&r, kind, PyTuple_GET_ITEM(entry, 3));
        }
        if (value == NULL) {
            goto fail;
        }
        int rc = PyDict_SetItem(record, PyTuple_GET_ITEM(entry, 0), value);
        Py_DECREF(value);
        if (rc < 0) {
            goto fail;
        }
    }
    PyBuffer_Release(&view);
    PyObject *out = Py_BuildValue("(Nn)", record, r.pos);
    return out;
fail:
    PyBuffer_Release(&view);
    Py_DECREF(record);
    return NULL;
}

/* columns(records, names) -> [[record[name] for record in records] for name in names] */
static PyObject *columns(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2 || !PyList_Check(args[0]) || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "columns(records: list, names: tuple)");
        return NULL;
    }
    PyObject *records = args[0], *names = args[1];
    Py_ssize_t n = PyList_GET_SIZE(records), k = PyTuple_GET_SIZE(names);
    PyObject *out = PyList_New(k);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t j = 0; j < k; j++) {
        PyObject *column = PyList_New(n);
        if (column == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, j, column);
        PyObject *name = PyTuple_GET_ITEM(names, j);
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *record = PyList_GET_ITEM(records, i);
            PyObject *value = PyDict_Check(record) ? PyDict_GetItemWithError(record, name) : NULL;
            if (value == NULL) {
                if (!PyErr_Occurred()) {
                    if (PyDict_Check(record)) {
                        PyErr_SetObject(PyExc_KeyError, name);
                    } else {
                        PyErr_SetString(PyExc_TypeError, "columns: records must be dicts");
                    }
                }
                Py_DECREF(out);
                return NULL;
            }
            Py_INCREF(value);
            PyList_SET_ITEM(column, i, value);
        }
    }
    return out;
}

static PyMethodDef methods[] = {
    {"columns", (PyCFunction)(void (*)(void))columns, METH_FASTCALL,
     "columns(records, names) -> one list per name of the records' values (records: dicts)."},
    {"read", (PyCFunction)(void (*)(void))read_record, METH_FASTCALL,
     "read(plan, error, data, pos, end) -> (record, pos): the record encoded at data[pos] (see "
     "the plan built by streams.avro_codegen.build_read_plan)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "streams._avro_reader",
    "Native Avro reader for flat record schemas (optional; streams.avro_codegen falls back to "
    "Python).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__avro_reader(void) { return PyModule_Create(&module); }
