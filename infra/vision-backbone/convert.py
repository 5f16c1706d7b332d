"""Convert the EfficientNet-Lite0 ImageNet checkpoint (a legacy-format torch.save file) into
float32 tensors laid out for TensorFlow.js, with batch norm folded into each convolution.

Standard library only: the checkpoint is read with pickle (torch's legacy layout: five
pickles, then the raw storages), so neither torch nor numpy has to be installed.

usage: python3 convert.py <checkpoint.pth> <out-dir>
writes <out-dir>/efficientnet-lite0.json (names, shapes, offsets) and .bin (little-endian float32)
"""
import array
import json
import math
import os
import pickle
import struct
import sys

BN_EPSILON = 1e-3  # efficientnet_lite_pytorch's global_params.batch_norm_epsilon
STORAGE_TYPES = {'FloatStorage': ('f', 4), 'LongStorage': ('q', 8)}


class StorageRef:
    def __init__(self, key, typecode):
        self.key, self.typecode, self.data = key, typecode, None


class TensorRef:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def values(self):
        """The tensor's elements in row-major order of its size."""
        data, out = self.storage.data, array.array('f')
        if not self.size:
            return array.array('f', [data[self.offset]])
        def walk(dim, base):
            if dim == len(self.size) - 1:
                step = self.stride[dim]
                out.extend(data[base + i * step] for i in range(self.size[dim]))
                return
            for i in range(self.size[dim]):
                walk(dim + 1, base + i * self.stride[dim])
        walk(0, self.offset)
        return out


def rebuild_tensor(storage, offset, size, stride, *_):
    return TensorRef(storage, offset, size, stride)


class CheckpointUnpickler(pickle.Unpickler):
    def __init__(self, file, storages):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module, name):
        if module == 'torch._utils' and name == '_rebuild_tensor_v2':
            return rebuild_tensor
        if module == 'torch' and name in STORAGE_TYPES:
            return name
        if module == 'collections' and name == 'OrderedDict':
            import collections
            return collections.OrderedDict
        raise pickle.UnpicklingError(f'unexpected class {module}.{name} in the checkpoint')

    def persistent_load(self, pid):
        kind, storage_type, key, _location, _size, view = pid
        if kind != 'storage' or view is not None:
            raise pickle.UnpicklingError(f'unsupported storage reference {pid!r}')
        return self.storages.setdefault(key, StorageRef(key, STORAGE_TYPES[storage_type][0]))


def load_state_dict(path):
    storages = {}
    with open(path, 'rb') as f:
        magic = pickle.load(f)
        if magic != 0x1950a86a20f9469cfc6c:
            raise ValueError(f'{path}: not a legacy torch checkpoint')
        pickle.load(f)  # protocol version
        pickle.load(f)  # sys info
        state = CheckpointUnpickler(f, storages).load()
        for key in pickle.load(f):
            storage = storages[key]
            (count,) = struct.unpack('<q', f.read(8))
            data = array.array(storage.typecode)
            data.frombytes(f.read(count * data.itemsize))
            if sys.byteorder != 'little':
                data.byteswap()
            storage.data = data
    return state


def transpose(values, shape, order):
    """Row-major `values` of `shape` permuted by `order` (as numpy.transpose)."""
    new_shape = [shape[i] for i in order]
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    out = array.array('f')
    def walk(dim, base):
        step = strides[order[dim]]
        if dim == len(order) - 1:
            out.extend(values[base + i * step] for i in range(new_shape[dim]))
            return
        for i in range(new_shape[dim]):
            walk(dim + 1, base + i * step)
    walk(0, 0)
    return out, new_shape


def fold_batch_norm(state, conv, bn, depthwise):
    """A TensorFlow.js kernel and bias equal to conv followed by batch norm (inference)."""
    weight = state[conv + '.weight']
    out_channels = weight.size[0]
    gamma, beta = state[bn + '.weight'].values(), state[bn + '.bias'].values()
    mean, var = state[bn + '.running_mean'].values(), state[bn + '.running_var'].values()
    scale = [gamma[c] / math.sqrt(var[c] + BN_EPSILON) for c in range(out_channels)]
    bias = array.array('f', (beta[c] - mean[c] * scale[c] for c in range(out_channels)))
    values = weight.values()
    per_channel = len(values) // out_channels
    scaled = array.array('f', (v * scale[i // per_channel] for i, v in enumerate(values)))
    # torch [out, in, kh, kw] -> tfjs conv2d [kh, kw, in, out]; depthwise torch [C, 1, kh, kw] -> [kh, kw, C, 1]
    kernel, shape = transpose(scaled, list(weight.size), [2, 3, 0, 1] if depthwise else [2, 3, 1, 0])
    return kernel, shape, bias


def main(checkpoint, out_dir):
    state = load_state_dict(checkpoint)
    tensors = []  # (name, shape, values)
    def conv(prefix, conv_name, bn_name, depthwise=False):
        kernel, shape, bias = fold_batch_norm(state, conv_name, bn_name, depthwise)
        tensors.append((prefix + '/kernel', shape, kernel))
        tensors.append((prefix + '/bias', [len(bias)], bias))
    conv('stem', '_conv_stem', '_bn0')
    block = 0
    while f'_blocks.{block}._depthwise_conv.weight' in state:
        p = f'_blocks.{block}'
        if p + '._expand_conv.weight' in state:
            conv(f'block{block}/expand', p + '._expand_conv', p + '._bn0')
        conv(f'block{block}/depthwise', p + '._depthwise_conv', p + '._bn1', depthwise=True)
        conv(f'block{block}/project', p + '._project_conv', p + '._bn2')
        block += 1
    conv('head', '_conv_head', '_bn1')
    fc = state['_fc.weight']
    kernel, shape = transpose(fc.values(), list(fc.size), [1, 0])
    tensors.append(('imagenet/kernel', shape, kernel))
    tensors.append(('imagenet/bias', list(state['_fc.bias'].size), state['_fc.bias'].values()))

    os.makedirs(out_dir, exist_ok=True)
    manifest, offset = [], 0
    with open(os.path.join(out_dir, 'efficientnet-lite0.bin.tmp'), 'wb') as f:
        for name, shape, values in tensors:
            if sys.byteorder != 'little':
                values.byteswap()
            f.write(values.tobytes())
            manifest.append({'name': name, 'shape': shape, 'offset': offset})
            offset += len(values)
    with open(os.path.join(out_dir, 'efficientnet-lite0.json.tmp'), 'w') as f:
        json.dump({'format': 'storeloop-vision-backbone/1', 'architecture': 'efficientnet-lite0', 'blocks': block, 'floats': offset, 'tensors': manifest}, f)
    os.replace(os.path.join(out_dir, 'efficientnet-lite0.bin.tmp'), os.path.join(out_dir, 'efficientnet-lite0.bin'))
    os.replace(os.path.join(out_dir, 'efficientnet-lite0.json.tmp'), os.path.join(out_dir, 'efficientnet-lite0.json'))
    print(f'{len(tensors)} tensors, {offset} floats, {block} blocks')


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
