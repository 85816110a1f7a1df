// synthmix's native part of the compiled path: what tfjs-node's binding does not expose.
//
// A Session owns one TF_Graph and one TF_Session on it. GraphDefs (built in JavaScript from a
// traced step) are imported into the graph under a prefix; a session picks up graph extensions
// on its next run, so one session holds every trace of a model and the resource variables they
// share (VarHandleOps with the same shared_name). Feeds and fetches are plain typed arrays.
//
// Exports:
//   opList(): Uint8Array                         serialized OpList of every registered op
//   open(configProto: Uint8Array): Session       a graph and a session (ConfigProto bytes)
//   importGraph(s, graphDef: Uint8Array, prefix: string): void
//   run(s, feeds: {name, dtype, shape, data}[], fetches: string[], targets: string[],
//       runOptions?: Uint8Array)
//       : {dtype, shape, data}[]                 one TF_SessionRun; with runOptions (a serialized
//                                                RunOptions, e.g. a trace level) the array also
//                                                has `metadata`, the serialized RunMetadata
//   close(s): void
//   version(): string
#include <node_api.h>

#include <cstring>
#include <string>
#include <vector>

#include "tensorflow/c/c_api.h"

namespace {

struct Session {
  TF_Graph *graph = nullptr;
  TF_Session *session = nullptr;
};

#define CHECK_NAPI(env, call)                                      \
  do {                                                             \
    if ((call) != napi_ok) {                                       \
      ThrowPending(env, #call);                                    \
      return nullptr;                                              \
    }                                                              \
  } while (0)

void ThrowPending(napi_env env, const char *what) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  const napi_extended_error_info *info = nullptr;
  napi_get_last_error_info(env, &info);
  std::string message = std::string("synthmix graph binding: ") + what + ": " +
                        (info && info->error_message ? info->error_message : "N-API call failed");
  napi_throw_error(env, nullptr, message.c_str());
}

napi_value ThrowTf(napi_env env, const char *what, TF_Status *status) {
  std::string message = std::string(what) + ": " + TF_Message(status);
  napi_throw_error(env, "ERR_TENSORFLOW", message.c_str());
  return nullptr;
}

// Deletes `status`; when it holds an error, throws "<what>: <message>" into JavaScript.
bool Succeeded(napi_env env, const char *what, TF_Status *status) {
  bool ok = TF_GetCode(status) == TF_OK;
  if (!ok) ThrowTf(env, what, status);
  TF_DeleteStatus(status);
  return ok;
}

napi_value Bytes(napi_env env, const void *data, size_t length) {
  void *out = nullptr;
  napi_value buffer;
  if (napi_create_arraybuffer(env, length, &out, &buffer) != napi_ok) return nullptr;
  if (length) std::memcpy(out, data, length);
  napi_value array;
  if (napi_create_typedarray(env, napi_uint8_array, length, buffer, 0, &array) != napi_ok) return nullptr;
  return array;
}

bool ReadBytes(napi_env env, napi_value value, const void **data, size_t *length) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  void *raw = nullptr;
  if (napi_get_typedarray_info(env, value, &type, length, &raw, &buffer, &offset) != napi_ok) return false;
  *data = raw;
  return true;
}

bool ReadString(napi_env env, napi_value value, std::string *out) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, nullptr, 0, &length) != napi_ok) return false;
  out->resize(length + 1);
  if (napi_get_value_string_utf8(env, value, &(*out)[0], length + 1, &length) != napi_ok) return false;
  out->resize(length);
  return true;
}

bool ReadStrings(napi_env env, napi_value array, std::vector<std::string> *out) {
  uint32_t length = 0;
  if (napi_get_array_length(env, array, &length) != napi_ok) return false;
  out->resize(length);
  for (uint32_t i = 0; i < length; i++) {
    napi_value v;
    if (napi_get_element(env, array, i, &v) != napi_ok || !ReadString(env, v, &(*out)[i])) return false;
  }
  return true;
}

Session *Unwrap(napi_env env, napi_value value) {
  void *data = nullptr;
  if (napi_get_value_external(env, value, &data) != napi_ok || data == nullptr) {
    napi_throw_type_error(env, nullptr, "expected an open graph session");
    return nullptr;
  }
  auto *s = static_cast<Session *>(data);
  if (s->session == nullptr) {
    napi_throw_error(env, nullptr, "the graph session is closed");
    return nullptr;
  }
  return s;
}

void CloseSession(Session *s) {
  if (s->session) {
    TF_Status *status = TF_NewStatus();
    TF_CloseSession(s->session, status);
    TF_DeleteSession(s->session, status);
    TF_DeleteStatus(status);
    s->session = nullptr;
  }
  if (s->graph) {
    TF_DeleteGraph(s->graph);
    s->graph = nullptr;
  }
}

void Finalize(napi_env, void *data, void *) {
  auto *s = static_cast<Session *>(data);
  CloseSession(s);
  delete s;
}

// "name:index" → TF_Output, or an error thrown into JS.
bool ParseOutput(napi_env env, TF_Graph *graph, const std::string &spec, TF_Output *out) {
  size_t colon = spec.rfind(':');
  std::string name = colon == std::string::npos ? spec : spec.substr(0, colon);
  int index = colon == std::string::npos ? 0 : std::stoi(spec.substr(colon + 1));
  TF_Operation *op = TF_GraphOperationByName(graph, name.c_str());
  if (op == nullptr) {
    napi_throw_error(env, nullptr, ("no operation named " + name + " in the graph").c_str());
    return false;
  }
  *out = TF_Output{op, index};
  return true;
}

napi_value OpList(napi_env env, napi_callback_info) {
  TF_Buffer *ops = TF_GetAllOpList();
  napi_value result = Bytes(env, ops->data, ops->length);
  TF_DeleteBuffer(ops);
  return result;
}

napi_value Version(napi_env env, napi_callback_info) {
  napi_value result;
  CHECK_NAPI(env, napi_create_string_utf8(env, TF_Version(), NAPI_AUTO_LENGTH, &result));
  return result;
}

napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  const void *config = nullptr;
  size_t config_length = 0;
  if (argc >= 1 && !ReadBytes(env, argv[0], &config, &config_length)) {
    napi_throw_type_error(env, nullptr, "open(config): config must be a Uint8Array (a serialized ConfigProto)");
    return nullptr;
  }
  TF_Status *status = TF_NewStatus();
  TF_SessionOptions *options = TF_NewSessionOptions();
  if (config_length) {
    TF_SetConfig(options, config, config_length, status);
    if (TF_GetCode(status) != TF_OK) {
      TF_DeleteSessionOptions(options);
      napi_value r = ThrowTf(env, "the session configuration was refused", status);
      TF_DeleteStatus(status);
      return r;
    }
  }
  auto *s = new Session();
  s->graph = TF_NewGraph();
  s->session = TF_NewSession(s->graph, options, status);
  TF_DeleteSessionOptions(options);
  if (TF_GetCode(status) != TF_OK) {
    TF_DeleteGraph(s->graph);
    delete s;
    napi_value r = ThrowTf(env, "TensorFlow could not create a session", status);
    TF_DeleteStatus(status);
    return r;
  }
  TF_DeleteStatus(status);
  napi_value external;
  CHECK_NAPI(env, napi_create_external(env, s, Finalize, nullptr, &external));
  return external;
}

napi_value ImportGraph(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Session *s = Unwrap(env, argv[0]);
  if (s == nullptr) return nullptr;
  const void *def = nullptr;
  size_t def_length = 0;
  std::string prefix;
  if (!ReadBytes(env, argv[1], &def, &def_length) || !ReadString(env, argv[2], &prefix)) {
    napi_throw_type_error(env, nullptr, "importGraph(session, graphDef: Uint8Array, prefix: string)");
    return nullptr;
  }
  TF_Buffer *buffer = TF_NewBufferFromString(def, def_length);
  TF_ImportGraphDefOptions *options = TF_NewImportGraphDefOptions();
  if (!prefix.empty()) TF_ImportGraphDefOptionsSetPrefix(options, prefix.c_str());
  TF_Status *status = TF_NewStatus();
  TF_GraphImportGraphDef(s->graph, buffer, options, status);
  TF_DeleteImportGraphDefOptions(options);
  TF_DeleteBuffer(buffer);
  Succeeded(env, "TensorFlow refused the traced graph", status);
  return nullptr;
}

size_t DtypeSize(TF_DataType dtype) {
  size_t size = TF_DataTypeSize(dtype);
  return size == 0 ? 1 : size;
}

napi_value Run(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Session *s = Unwrap(env, argv[0]);
  if (s == nullptr) return nullptr;
  // Optional RunOptions: step statistics for a profile, at the cost of tracing every op.
  const void *options_data = nullptr;
  size_t options_length = 0;
  bool traced = false;
  if (argc >= 5) {
    napi_valuetype type;
    napi_typeof(env, argv[4], &type);
    if (type != napi_undefined && type != napi_null) {
      if (!ReadBytes(env, argv[4], &options_data, &options_length)) {
        napi_throw_type_error(env, nullptr, "run: runOptions must be a Uint8Array (a serialized RunOptions)");
        return nullptr;
      }
      traced = true;
    }
  }

  std::vector<TF_Output> feed_outputs, fetch_outputs;
  std::vector<TF_Tensor *> feed_values;
  std::vector<TF_Operation *> targets;
  auto free_feeds = [&]() {
    for (TF_Tensor *t : feed_values) TF_DeleteTensor(t);
  };

  uint32_t n_feeds = 0;
  CHECK_NAPI(env, napi_get_array_length(env, argv[1], &n_feeds));
  for (uint32_t i = 0; i < n_feeds; i++) {
    napi_value feed, name_v, dtype_v, shape_v, data_v;
    CHECK_NAPI(env, napi_get_element(env, argv[1], i, &feed));
    CHECK_NAPI(env, napi_get_named_property(env, feed, "name", &name_v));
    CHECK_NAPI(env, napi_get_named_property(env, feed, "dtype", &dtype_v));
    CHECK_NAPI(env, napi_get_named_property(env, feed, "shape", &shape_v));
    CHECK_NAPI(env, napi_get_named_property(env, feed, "data", &data_v));
    std::string name;
    int32_t dtype = 0;
    uint32_t rank = 0;
    if (!ReadString(env, name_v, &name) || napi_get_value_int32(env, dtype_v, &dtype) != napi_ok ||
        napi_get_array_length(env, shape_v, &rank) != napi_ok) {
      free_feeds();
      napi_throw_type_error(env, nullptr, "run: a feed needs name, dtype, shape and data");
      return nullptr;
    }
    std::vector<int64_t> dims(rank);
    int64_t elements = 1;
    for (uint32_t d = 0; d < rank; d++) {
      napi_value dim;
      int64_t value = 0;
      napi_get_element(env, shape_v, d, &dim);
      napi_get_value_int64(env, dim, &value);
      dims[d] = value;
      elements *= value;
    }
    const void *data = nullptr;
    size_t length = 0;
    napi_typedarray_type array_type;
    napi_value buffer;
    size_t offset;
    void *raw = nullptr;
    if (napi_get_typedarray_info(env, data_v, &array_type, &length, &raw, &buffer, &offset) != napi_ok) {
      free_feeds();
      napi_throw_type_error(env, nullptr, ("run: feed " + name + " has no typed array data").c_str());
      return nullptr;
    }
    data = raw;
    size_t element_size = DtypeSize(static_cast<TF_DataType>(dtype));
    size_t bytes = static_cast<size_t>(elements) * element_size;
    size_t have_bytes = length * (array_type == napi_uint8_array || array_type == napi_int8_array || array_type == napi_uint8_clamped_array ? 1
                                  : array_type == napi_float64_array || array_type == napi_bigint64_array || array_type == napi_biguint64_array ? 8
                                  : array_type == napi_int16_array || array_type == napi_uint16_array ? 2 : 4);
    if (have_bytes != bytes) {
      free_feeds();
      napi_throw_range_error(env, nullptr, ("run: feed " + name + " has " + std::to_string(have_bytes) + " bytes, its shape needs " + std::to_string(bytes)).c_str());
      return nullptr;
    }
    TF_Output output;
    if (!ParseOutput(env, s->graph, name, &output)) {
      free_feeds();
      return nullptr;
    }
    TF_Tensor *tensor = TF_AllocateTensor(static_cast<TF_DataType>(dtype), dims.data(), static_cast<int>(rank), bytes);
    if (bytes) std::memcpy(TF_TensorData(tensor), data, bytes);
    feed_outputs.push_back(output);
    feed_values.push_back(tensor);
  }

  std::vector<std::string> fetch_names, target_names;
  if (!ReadStrings(env, argv[2], &fetch_names) || !ReadStrings(env, argv[3], &target_names)) {
    free_feeds();
    napi_throw_type_error(env, nullptr, "run: fetches and targets must be arrays of names");
    return nullptr;
  }
  for (const std::string &name : fetch_names) {
    TF_Output output;
    if (!ParseOutput(env, s->graph, name, &output)) {
      free_feeds();
      return nullptr;
    }
    fetch_outputs.push_back(output);
  }
  for (const std::string &name : target_names) {
    TF_Operation *op = TF_GraphOperationByName(s->graph, name.c_str());
    if (op == nullptr) {
      free_feeds();
      napi_throw_error(env, nullptr, ("no operation named " + name + " in the graph").c_str());
      return nullptr;
    }
    targets.push_back(op);
  }

  std::vector<TF_Tensor *> fetch_values(fetch_outputs.size(), nullptr);
  TF_Status *status = TF_NewStatus();
  TF_Buffer *run_options = traced ? TF_NewBufferFromString(options_data, options_length) : nullptr;
  TF_Buffer *run_metadata = traced ? TF_NewBuffer() : nullptr;
  TF_SessionRun(s->session, run_options, feed_outputs.data(), feed_values.data(), static_cast<int>(feed_outputs.size()),
                fetch_outputs.data(), fetch_values.data(), static_cast<int>(fetch_outputs.size()), targets.data(),
                static_cast<int>(targets.size()), run_metadata, status);
  free_feeds();
  if (run_options) TF_DeleteBuffer(run_options);
  if (!Succeeded(env, "the compiled step failed in TensorFlow", status)) {
    if (run_metadata) TF_DeleteBuffer(run_metadata);
    return nullptr;
  }

  napi_value results;
  napi_create_array_with_length(env, fetch_values.size(), &results);
  if (run_metadata) {
    napi_set_named_property(env, results, "metadata", Bytes(env, run_metadata->data, run_metadata->length));
    TF_DeleteBuffer(run_metadata);
  }
  for (size_t i = 0; i < fetch_values.size(); i++) {
    TF_Tensor *t = fetch_values[i];
    napi_value result, dtype_v, shape_v;
    napi_create_object(env, &result);
    napi_create_int32(env, TF_TensorType(t), &dtype_v);
    int rank = TF_NumDims(t);
    napi_create_array_with_length(env, rank, &shape_v);
    for (int d = 0; d < rank; d++) {
      napi_value dim;
      napi_create_int64(env, TF_Dim(t, d), &dim);
      napi_set_element(env, shape_v, d, dim);
    }
    napi_set_named_property(env, result, "dtype", dtype_v);
    napi_set_named_property(env, result, "shape", shape_v);
    napi_set_named_property(env, result, "data", Bytes(env, TF_TensorData(t), TF_TensorByteSize(t)));
    napi_set_element(env, results, i, result);
    TF_DeleteTensor(t);
  }
  return results;
}

napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  void *data = nullptr;
  if (napi_get_value_external(env, argv[0], &data) == napi_ok && data) CloseSession(static_cast<Session *>(data));
  return nullptr;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"opList", nullptr, OpList, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"version", nullptr, Version, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"open", nullptr, Open, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"importGraph", nullptr, ImportGraph, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"run", nullptr, Run, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"close", nullptr, Close, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
