function save(varargin)
  % SAVE  snapstamps Octave compatibility wrapper of the built-in save (MATLAB behaviour).
  %   - a file name without extension gets '.mat' (unless -ascii/-text), as MATLAB does;
  %   - binary saves default to MAT v7 ('-mat7-binary'), which scipy.io.loadmat reads;
  %   - '-v7.3', '-v7' and '-v6' map to Octave's MAT formats; options are lower-cased;
  %   - '-double' and '-tabs' (MATLAB ASCII modifiers) are dropped.
  % The variables are saved from the caller's workspace.
  args = {};
  fmt = '';
  ascii = false;
  for k = 1:nargin
    a = varargin{k};
    if ischar(a) && numel(a) > 1 && a(1) == '-'
      opt = lower(a);
      switch opt
        case {'-double', '-tabs'}
          continue;
        case {'-v7.3', '-v7'}
          fmt = '-mat7-binary';
          continue;
        case '-v6'
          fmt = '-mat-binary';
          continue;
        case {'-ascii', '-text'}
          ascii = true;
      end
      args{end+1} = opt; %#ok<AGROW>
    else
      args{end+1} = a; %#ok<AGROW>
    end
  end
  if isempty(args)
    args = {'matlab.mat'};
  end
  % the first non-option argument is the file name
  for k = 1:numel(args)
    if ischar(args{k}) && (isempty(args{k}) || args{k}(1) ~= '-')
      [~, ~, ext] = fileparts(args{k});
      if isempty(ext) && ~ascii
        args{k} = [args{k} '.mat'];
      end
      break;
    end
  end
  if ~ascii
    has_fmt = any(cellfun(@(s) ischar(s) && any(strcmp(s, {'-mat7-binary', '-mat-binary', '-mat', '-v7', '-binary', '-text', '-hdf5', '-float-binary', '-zip', '-z'})), args));
    if ~has_fmt
      if isempty(fmt)
        fmt = '-mat7-binary';
      end
      args = [{fmt}, args];
    end
  end
  quoted = cellfun(@(s) ['''' strrep(s, '''', '''''') ''''], args, 'UniformOutput', false);
  evalin('caller', ['builtin(''save'', ' strjoin(quoted, ', ') ');']);
end
